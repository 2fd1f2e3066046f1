"""kimi_engine: the embedded Kimi K2.x inference engine."""
__version__ = "0.1.0"
