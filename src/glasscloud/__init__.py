"""glasscloud: a self-hostable smart-glasses cloud speaking the MentraOS wire protocol."""

__version__ = "0.1.0"
