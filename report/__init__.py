"""The read side people look at: the HTML report and the emerging-themes summary."""
