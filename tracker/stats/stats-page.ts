/**
 * GET /stats: one self-contained page (no external scripts or fonts) that fetches /stats.json every
 * few seconds and draws it. Dynamic values only ever reach the page through textContent and SVG
 * attributes set from numbers, so nothing a peer sends can inject markup.
 */
export const STATS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>punchswarm tracker</title>
<style>
  :root { --fg:#1d2430; --muted:#5c6678; --bg:#f5f7fa; --card:#fff; --accent:#2f6fed; --ok:#1f9d55; --bad:#d64545; }
  @media (prefers-color-scheme: dark) { :root { --fg:#e6e9ef; --muted:#9aa3b2; --bg:#12151b; --card:#1b2029; } }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
  header { padding:16px; display:flex; flex-wrap:wrap; gap:8px; align-items:baseline; justify-content:space-between; }
  h1 { font-size:20px; margin:0; }
  #updated { color:var(--muted); font-size:13px; }
  main { padding:0 16px 24px; max-width:1100px; margin:0 auto; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(140px, 1fr)); gap:10px; }
  .card { background:var(--card); border-radius:10px; padding:12px; box-shadow:0 1px 2px rgba(0,0,0,.08); min-width:0; }
  .card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
  .card .value { font-size:22px; font-weight:600; overflow-wrap:anywhere; }
  .charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(280px, 1fr)); gap:10px; margin-top:10px; }
  .charts svg { width:100%; height:120px; display:block; }
  h2 { font-size:15px; margin:0 0 6px; }
  .table-wrap { overflow-x:auto; margin-top:10px; }
  table { width:100%; border-collapse:collapse; font-size:14px; }
  th, td { text-align:right; padding:6px 8px; border-bottom:1px solid rgba(127,127,127,.2); white-space:nowrap; }
  th:first-child, td:first-child { text-align:left; }
  td.hash { font-family:ui-monospace, monospace; max-width:40vw; overflow:hidden; text-overflow:ellipsis; }
  .bar-row { display:flex; align-items:center; gap:8px; margin:3px 0; font-size:13px; }
  .bar-row .name { width:86px; color:var(--muted); }
  .bar-row .track { flex:1; background:rgba(127,127,127,.15); border-radius:4px; height:12px; min-width:0; }
  .bar-row .fill { background:var(--accent); height:100%; border-radius:4px; }
  .bar-row .n { width:60px; text-align:right; }
  #error { color:var(--bad); }
</style>
</head>
<body>
<header><h1>punchswarm tracker</h1><span id="updated">loading…</span></header>
<main>
  <p id="error" hidden></p>
  <section class="cards" id="cards"></section>
  <section class="charts">
    <div class="card"><h2>Announces per minute, last hour</h2><svg id="chart-announces" viewBox="0 0 300 100" preserveAspectRatio="none" role="img" aria-label="announces per minute"></svg></div>
    <div class="card"><h2>Peers, last hour</h2><svg id="chart-peers" viewBox="0 0 300 100" preserveAspectRatio="none" role="img" aria-label="peers"></svg></div>
    <div class="card"><h2>Peers by NAT class</h2><div id="nat"></div></div>
    <div class="card"><h2>Hole punching</h2><div id="punch"></div></div>
  </section>
  <section class="card table-wrap">
    <h2>Swarms</h2>
    <table><thead><tr><th>Info hash</th><th>Seeders</th><th>Leechers</th><th>Completed</th><th>IPv4</th><th>IPv6</th></tr></thead><tbody id="swarms"></tbody></table>
  </section>
</main>
<script>
const SVG = 'http://www.w3.org/2000/svg'
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
const fmt = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n * 10) / 10)
const bytes = (n) => (n / 1048576).toFixed(1) + ' MiB'
const dur = (s) => s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h'
function line(svg, values) {
  svg.replaceChildren()
  const max = Math.max(1, ...values)
  const step = values.length > 1 ? 300 / (values.length - 1) : 300
  const pts = values.map((v, i) => (i * step).toFixed(1) + ',' + (98 - (v / max) * 90).toFixed(1))
  if (pts.length === 1) pts.push('300,' + pts[0].split(',')[1])
  const area = document.createElementNS(SVG, 'polygon')
  area.setAttribute('points', '0,100 ' + pts.join(' ') + ' 300,100')
  area.setAttribute('fill', 'rgba(47,111,237,.15)')
  const pl = document.createElementNS(SVG, 'polyline')
  pl.setAttribute('points', pts.join(' '))
  pl.setAttribute('fill', 'none'); pl.setAttribute('stroke', '#2f6fed'); pl.setAttribute('stroke-width', '2')
  pl.setAttribute('vector-effect', 'non-scaling-stroke')
  const label = document.createElementNS(SVG, 'text')
  label.setAttribute('x', '2'); label.setAttribute('y', '10'); label.setAttribute('font-size', '9'); label.setAttribute('fill', 'currentColor')
  label.textContent = 'max ' + fmt(max)
  svg.append(area, pl, label)
}
function bars(box, entries) {
  box.replaceChildren()
  const max = Math.max(1, ...entries.map((e) => e[1]))
  for (const [name, n] of entries) {
    const row = el('div', undefined, 'bar-row')
    const track = el('div', undefined, 'track'); const fill = el('div', undefined, 'fill')
    fill.style.width = (100 * n / max).toFixed(1) + '%'
    track.append(fill)
    row.append(el('span', name, 'name'), track, el('span', fmt(n), 'n'))
    box.append(row)
  }
}
function render(s) {
  const cards = [
    ['Swarms', fmt(s.totals.swarms)], ['Peers', fmt(s.totals.peers)], ['Seeders', fmt(s.totals.seeders)],
    ['Leechers', fmt(s.totals.leechers)], ['Announces/s', fmt(s.rates.announcesPerSecond)], ['Scrapes/s', fmt(s.rates.scrapesPerSecond)],
    ['Uptime', dur(s.uptimeSeconds)], ['Memory', bytes(s.memory.rss)],
  ]
  document.getElementById('cards').replaceChildren(...cards.map(([k, v]) => { const c = el('div', undefined, 'card'); c.append(el('div', k, 'label'), el('div', v, 'value')); return c }))
  line(document.getElementById('chart-announces'), s.history.map((h) => h.announces))
  line(document.getElementById('chart-peers'), s.history.map((h) => h.peers))
  bars(document.getElementById('nat'), Object.entries(s.totals.byNatClass))
  bars(document.getElementById('punch'), [['attempts', s.punches.attempt], ['successes', s.punches.success], ['failures', s.punches.failure]])
  document.getElementById('swarms').replaceChildren(...s.swarms.map((w) => {
    const tr = el('tr'); const h = el('td', w.infoHash, 'hash'); h.title = w.infoHash
    tr.append(h, el('td', w.seeders), el('td', w.leechers), el('td', w.completed), el('td', w.peers4), el('td', w.peers6))
    return tr
  }))
  document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString()
}
async function refresh() {
  const err = document.getElementById('error')
  try {
    const res = await fetch('stats.json', { cache: 'no-store' })
    if (!res.ok) throw new Error('HTTP ' + res.status)
    render(await res.json())
    err.hidden = true
  } catch (e) {
    err.textContent = 'Could not load stats: ' + e.message
    err.hidden = false
  }
}
refresh()
setInterval(refresh, 5000)
</script>
</body>
</html>
`
