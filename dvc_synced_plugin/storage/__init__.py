"""What this machine keeps: object stores, locks, and the state in the git dir."""
