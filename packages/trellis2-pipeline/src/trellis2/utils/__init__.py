"""Utilities on generated assets; `render_utils` renders turntable videos and PBR previews (upstream's names)."""
