"""What runs without the user typing a command: the git hooks, their installer, the periodic job."""
