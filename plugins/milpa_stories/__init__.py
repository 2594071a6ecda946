"""Stories as a community publishes them: territories, languages, pins, warnings, expiry."""

from pelican import signals

from .fields import normalise_fields, read_story_fields
from .fragments import install as install_fragments
from .languages import LanguagesGenerator
from .listing import drop_expired, lists_that_answer_at_once, pinned_first
from .order import read_in_order, refuse_shared_places
from .pagination import stable_writer
from .strict import check_before_reading, refuse_errors
from .urls import keep_source_path, settle_urls


def get_generators(_pelican: object) -> type[LanguagesGenerator]:
    return LanguagesGenerator


def register() -> None:
    # Plain `pelican content` checks like `publish.py check` before reading any story…
    signals.initialized.connect(check_before_reading)
    # …and stops before writing when anything was an error (publish.py build leaves out).
    signals.all_generators_finalized.connect(refuse_errors)
    # Empty fields are dropped, and `Territory:` becomes the category, before Pelican
    # builds the content object from the metadata.
    signals.article_generator_context.connect(normalise_fields)
    signals.page_generator_context.connect(normalise_fields)
    # Fields are read (and bad values reported with their line) as each object is made.
    signals.content_object_init.connect(read_story_fields)
    # Pelican has just worked out where the source is: kept, as it is asked again and again.
    signals.content_object_init.connect(keep_source_path)
    # Expired stories leave every list before territories, tags and authors are counted.
    signals.article_generator_pretaxonomy.connect(drop_expired)
    # The home page's order is settled once Pelican has sorted by date.
    signals.article_generator_finalized.connect(pinned_first)
    # Pelican asks, for every story and every tag, territory and author, whether the story
    # is in its list: a list that answers at once.
    signals.article_generator_finalized.connect(lists_that_answer_at_once)
    # Every context is final: nothing an address is made from changes any more, so each
    # story's and page's url and save_as are worked out once, before anything is written.
    signals.all_generators_finalized.connect(settle_urls)
    # What a listing shows of a story is made once per build, not once per listing.
    signals.generator_init.connect(install_fragments)
    # Stories and pages are read in the same order whatever the run's string hashing.
    signals.article_generator_init.connect(read_in_order)
    signals.page_generator_init.connect(read_in_order)
    signals.static_generator_finalized.connect(refuse_shared_places)
    # Language pages need the final list of stories and translations.
    signals.get_generators.connect(get_generators)
    # Listings are cut from the oldest story: a new story leaves older pages as they were.
    signals.get_writer.connect(stable_writer)
