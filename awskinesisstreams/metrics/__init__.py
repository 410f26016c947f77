"""What the library counts, and where it shows it: the figures (a leaf: counted everywhere, cheaply),
the Prometheus endpoint, and the CloudWatch publisher."""
