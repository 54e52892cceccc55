//! Claude Code settings.json install/uninstall. (Placeholder; lands in its own commit.)
