"""Everything needed to run the stack on one machine (never deployed)."""
