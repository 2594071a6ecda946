"""Settings for building the site locally: ordinary Pelican settings, plus MILPA_* ones.

`pelican content -s pelicanconf.py` and `python publish.py build` build the same site.
Every MILPA_* setting and its default is listed in plugins/milpa/settings.py.
"""

SITENAME = "Milpa Stories"
SITESUBTITLE = "Stories from our communities and lands, told by us"
# The subtitle where the interface speaks another language (see "The site's language").
MILPA_SITESUBTITLES = {"es": "Historias de nuestras comunidades y tierras, contadas por nosotros"}
SITEURL = ""
AUTHOR = "Milpa"
TIMEZONE = "America/Mexico_City"
# The language of the site's own words; each story declares its own with `Lang:`.
DEFAULT_LANG = "en"

PATH = "content"
ARTICLE_PATHS = ["stories"]
# The territory comes from the `Territory:` field, not from the folder a story is in.
USE_FOLDER_AS_CATEGORY = False
PAGE_PATHS = ["pages"]
# Photos and videos are never copied as they are: the milpa_media plugin publishes
# stripped renditions. Only files under content/extra/ are copied verbatim.
STATIC_PATHS = ["extra"]
EXTRA_PATH_METADATA = {"extra/robots.txt": {"path": "robots.txt"}}

PLUGIN_PATHS = ["plugins"]
# milpa_i18n puts the theme in the reader's language (catalogs in plugins/milpa/locale/).
PLUGINS = ["milpa_stories", "milpa_media", "milpa_feeds", "milpa_activitypub", "milpa_replies",
           "milpa_i18n", "milpa_neighbours", "milpa_brand"]

THEME = "theme"
OUTPUT_PATH = "output"
CACHE_PATH = "cache"

# Clean addresses: /stories/water-returns/ rather than water-returns.html.
ARTICLE_URL = "stories/{slug}/"
ARTICLE_SAVE_AS = "stories/{slug}/index.html"
ARTICLE_LANG_URL = "stories/{slug}/{lang}/"
ARTICLE_LANG_SAVE_AS = "stories/{slug}/{lang}/index.html"
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
PAGE_LANG_URL = "{slug}/{lang}/"
PAGE_LANG_SAVE_AS = "{slug}/{lang}/index.html"
CATEGORY_URL = "territory/{slug}/"
CATEGORY_SAVE_AS = "territory/{slug}/index.html"
CATEGORIES_URL = "territory/"
CATEGORIES_SAVE_AS = "territory/index.html"
TAG_URL = "tag/{slug}/"
TAG_SAVE_AS = "tag/{slug}/index.html"
TAGS_URL = "tag/"
TAGS_SAVE_AS = "tag/index.html"
AUTHOR_URL = "author/{slug}/"
AUTHOR_SAVE_AS = "author/{slug}/index.html"
AUTHORS_URL = "author/"
AUTHORS_SAVE_AS = "author/index.html"
ARCHIVES_URL = "archive/"
ARCHIVES_SAVE_AS = "archive/index.html"
DRAFT_URL = "drafts/{slug}/"
DRAFT_SAVE_AS = "drafts/{slug}/index.html"
DRAFT_LANG_URL = "drafts/{slug}/{lang}/"
DRAFT_LANG_SAVE_AS = "drafts/{slug}/{lang}/index.html"
YEAR_ARCHIVE_SAVE_AS = ""
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""
PAGINATION_PATTERNS = (
    (1, "{url}", "{save_as}"),
    (2, "{base_name}/page/{number}/", "{base_name}/page/{number}/index.html"),
)
DEFAULT_PAGINATION = 10
DIRECT_TEMPLATES = ["index", "archives", "categories", "tags", "authors"]

# Pelican's own feeds stay off: feeds are written by a feedgen plugin of our own.
FEED_ALL_ATOM = None
FEED_ALL_RSS = None
CATEGORY_FEED_ATOM = None
CATEGORY_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TAG_FEED_ATOM = None
TAG_FEED_RSS = None

SUMMARY_MAX_LENGTH = 40
DEFAULT_DATE_FORMAT = "%d %B %Y"
# Byte-identical output for identical input.
OUTPUT_RETENTION = []
DELETE_OUTPUT_DIRECTORY = True
LOAD_CONTENT_CACHE = False

# Navigation links shown on every page, after the home link.
MENU_PAGES = ("about", "rules", "follow")

# The theme escapes everything it prints unless it is marked as HTML (story bodies),
# so a title or an alt text can never break a page.
JINJA_ENVIRONMENT = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True}

# The logo in the header, and the tab and home-screen icons made from it at build time.
MILPA_LOGO = "photos/avatar.jpg"

# The site on the Fediverse (every MILPA_ACTOR_* setting is in plugins/milpa/settings.py).
MILPA_ACTOR_USERNAME = "stories"
MILPA_ACTOR_ICON = "photos/avatar.jpg"
MILPA_ACTOR_IMAGE = "photos/milpa-spring.jpg"
MILPA_AUTHORS = {
    "Rosa Ventura": {"summary": "<p>Radio host and seed keeper in the Sierra Norte.</p>",
                     "summaries": {"es": "<p>Locutora de radio y guardiana de semillas en la "
                                         "Sierra Norte.</p>"}},
}
MILPA_TERRITORIES = {
    "Sierra Norte": {"summary": "<p>Stories from the forests and springs of the Sierra Norte."
                     "</p>", "image": "photos/hillside-forest.jpg",
                     "summaries": {"es": "<p>Historias de los bosques y manantiales de la Sierra "
                                         "Norte.</p>"}},
}
