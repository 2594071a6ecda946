"""Running the site: building it with Pelican safely, and serving what was built."""
