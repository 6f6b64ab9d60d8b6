"""Starting out: `weightops init` (project scaffolding from templates/) and the end-to-end demo.
May import every package but cli."""
