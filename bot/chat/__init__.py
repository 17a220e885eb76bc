"""The neutral chat protocol: what a messenger adapter and the core say to each other.

Events in (a press, a text, a command), cards out, the encoded button actions, the ports an
adapter implements for delivery, and the text splitting renderers share. This is the only part
of ``bot`` that ``adapters`` may import. It imports nothing else of ``bot``, nor ``adapters``;
it may import ``engine``.
"""
