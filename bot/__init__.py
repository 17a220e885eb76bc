"""The core between the messengers and the engine, in layers; each imports only the layers
below it (``lint-imports`` checks it, contracts in ``pyproject.toml``):

- ``bot.app`` and ``bot.tools``: the ``delphi`` command, the running service, the demo and pilot;
- ``bot.dialogue``: what each event means and what the bot answers, the scheduler;
- ``bot.delivery``: the outbox and the dispatcher that sends it;
- ``bot.chat``: the neutral protocol the adapters (``adapters/``) speak.
"""
