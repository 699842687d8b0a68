"""The public HTML site: home, article, section, author and source pages."""
