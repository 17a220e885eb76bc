"""Tools that run a whole study in-process: the demo, the pilot and the simulated panel.

They drive the dialogue through the in-memory adapter and write the outputs a real study would.
They may import ``bot.app``, the rest of ``bot``, ``adapters`` and ``engine``; only ``bot.app.cli``
imports them.
"""
