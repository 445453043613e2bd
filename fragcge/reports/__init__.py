"""Tables and figures from solved scenarios: `fragcge report` and `fragcge appendix`."""
