"""Moving data: the push and pull flows, their plan and transfer, fetch, status, gc, du."""
