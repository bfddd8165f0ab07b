{
  "targets": [
    {
      "target_name": "udp_batch",
      "sources": ["client/udp-batch/udp-batch.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
