"""The sandbox: untrusted code in bubblewrap, tests on the trusted side of a plain-data wire."""
