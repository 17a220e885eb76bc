"""Consensus and stability statistics (pandas / scipy), platform-neutral."""
