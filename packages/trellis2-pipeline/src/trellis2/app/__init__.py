"""The Gradio front end (`trellis2 demo`, `python -m trellis2.app`), a client of the web back end."""
