"""Live window and replay (PyQt6 + pyqtgraph)."""
