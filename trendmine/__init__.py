"""trendmine: customer feedback from every silo, turned into revenue-weighted trends."""

__version__ = "0.1.0"
