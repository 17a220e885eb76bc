"""The application: the ``delphi`` command line, its configuration and the running service.

Parses arguments and config files, wires adapters, dialogue, dispatcher and scheduler together,
and turns failures into one or two sentences. It may import anything; nothing in ``bot``,
``adapters`` or ``engine`` imports it (``bot.tools`` may).
"""
