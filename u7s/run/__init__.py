"""Where commands run: this host, an SSH host, many hosts in parallel; locks and polling."""
