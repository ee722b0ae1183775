"""Every Scrapy setting of the project, politeness first. A source may override any of them through
its `settings` key in config/sources.yaml (applied by the spider at start-up)."""

BOT_NAME = "zwgk-archive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- Politeness: who we are, how fast, and what we may fetch -------------------------------------
USER_AGENT = (
    "zwgk-archive/0.1 (archive of government information-disclosure pages for research; "
    "+https://github.com/zwgk-archive/zwgk-archive)"
)
ROBOTSTXT_OBEY = True
DEFAULT_REQUEST_HEADERS = {  # Scrapy's, named here so the revalidation stage (crawler/revalidate.py) sends them too
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
}
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# --- Transient failures ---------------------------------------------------------------------------
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024

# --- Engine ---------------------------------------------------------------------------------------
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
TELNETCONSOLE_ENABLED = False
# Extensions a crawl never uses are not even imported (each crawl is a fresh process, and Scrapy imports
# every extension named in EXTENSIONS, None or not, to compare it with the base list): the base list itself
# leaves out the telnet console, the memory debugger, the job-directory state and Scrapy 2.19's remote-
# control HTTP server (on by default: it runs Python sent to it; its module imports aiohttp, a tenth of a
# second of every crawl's start).
REMOTE_CONTROL_ENABLED = False
EXTENSIONS_BASE = {
    "scrapy.extensions.corestats.CoreStats": 0,
    "scrapy.extensions.logcount.LogCount": 0,
    "scrapy.extensions.memusage.MemoryUsage": 0,
    "scrapy.extensions.closespider.CloseSpider": 0,
    "scrapy.extensions.feedexport.FeedExporter": 0,
    "scrapy.extensions.logstats.LogStats": 0,
    "scrapy.extensions.throttle.AutoThrottle": 0,
}
# Items processed at once per response. Scrapy starts this many asyncio tasks for every response's
# output (scrapy.utils.asyncio._parallel_asyncio); at its default of 100 that was a tenth of the crawl
# thread's time. A report page yields one item, and a listing page's requests are each scheduled at once
# (no await), so one task does it all: a second only ever waited for the end of the output.
CONCURRENT_ITEMS = 1
# Scrapy 2.19's RemoteControl extension runs an HTTP server on localhost that executes Python code sent
# to it (token in a job file): off, like telnet. Nothing here is meant to be steered from outside.
REMOTE_CONTROL_ENABLED = False
# Scrapy checks every response's callback for a generator that returns a value (a warning for spider
# authors): it re-reads and re-parses the callback's source each time, since its cache is keyed weakly on
# the bound method, a new object per response. The spider's callbacks return nothing (ruff, tests).
WARN_ON_GENERATOR_RETURN_VALUE = False
# The versions Scrapy logs at start-up, less "Platform": platform.platform() runs `uname -p`, a child
# process of the crawl besides its extraction workers (tests/test_workers_start.py counts them).
LOG_VERSIONS = ["lxml", "libxml2", "cssselect", "parsel", "w3lib", "Twisted", "Python", "pyOpenSSL", "cryptography"]
COOKIES_ENABLED = True
LOG_LEVEL = "INFO"
# Scrapy's own default, named here for the loggers set up before Scrapy starts: the revalidation stage's
# and the extraction workers' (crawler/run.py, crawler/workers.py)
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"
FEED_EXPORT_ENCODING = "utf-8"
# `scrapy crawl disclosure -a source=ID -o pages.jsonl|json|csv`: one record per archived page
# (crawler.items.ArchivedPage, what ArchivePipeline hands on), in this column order, never raw bytes.
FEED_EXPORT_FIELDS = ["url", "title", "published", "publisher", "district", "report_year", "text", "outcome"]

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    # no source is behind HTTP authentication (no http_user/http_pass): a no-op call per request
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.ChallengeMiddleware": 540,  # sees responses after retries and redirects
    "crawler.middlewares.OffsiteRedirectMiddleware": 650,  # sees a 3xx before RedirectMiddleware
    # answers the revalidation stage received serve the spider's requests for them (last: no request is sent)
    "crawler.middlewares.PrefetchedMiddleware": 950,
}

# Request depth is neither limited nor used here; its middleware cost the crawl thread work per request.
# MetaCopyDetection (Scrapy 2.19) warns spider authors who copy response.meta into new requests, which
# this spider never does (it builds every request's meta itself): one more layer over every response's output.
SPIDER_MIDDLEWARES = {"scrapy.spidermiddlewares.depth.DepthMiddleware": None,
                      "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None}

ITEM_PIPELINES = {
    "crawler.pipelines.ExtractPipeline": 300,
    "crawler.pipelines.ArchivePipeline": 800,
    "crawler.attachments.AttachmentsPipeline": 900,  # after the page is archived: its files
}
# Attachment downloads (Scrapy's media pipeline) follow redirects on the source's hosts.
MEDIA_ALLOW_REDIRECTS = True

# --- zwgk-archive's own settings ------------------------------------------------------------------
# Most listing pages one run follows for one source (a guard against endless pagination).
ZWGK_MAX_LISTING_PAGES = 200
# gkmlpt incremental listing (paging stops at a page of known documents) is allowed only when the source's
# previous run was clean and a run that read every API page finished ok within this many days; else the
# whole catalogue is read (so a backlog left by a failed run, or a back-dated report, is not missed).
ZWGK_FULL_LISTING_DAYS = 7
# Worker processes that extract pages (crawler/workers.py); None: one per core, at most 2; 0: extract
# in the crawl's own process.
ZWGK_EXTRACT_WORKERS = None
# Group commit (archive/groupcommit.py): pages share a transaction until this many pages or seconds.
ZWGK_COMMIT_PAGES = 50
ZWGK_COMMIT_SECONDS = 0.2
# The archive's writes run in a thread of their own (archive/writer.py). Python hands the GIL between
# threads every `sys.setswitchinterval` seconds (5 ms by default): Scrapy's thread, back from a system call
# while the writer runs Python, would wait that long. The crawl process uses this interval instead.
ZWGK_SWITCH_INTERVAL = 0.0005
# Conditional requests: a known document is asked with If-None-Match / If-Modified-Since from its last
# confirmed fetch, and a 304 is recorded as unchanged without extracting it again.
ZWGK_CONDITIONAL_REQUESTS = True
# Revalidation before Scrapy (crawler/revalidate.py, in `python -m crawler.run`): known documents are asked
# conditionally over plain keep-alive connections, with this file's politeness; 304s are recorded there,
# everything else is crawled by Scrapy, which is not started at all when nothing changed.
ZWGK_REVALIDATE = True
# Retry pauses: ZWGK_RETRY_BACKOFF × 2^(attempt−1) seconds, capped (crawler/middlewares.py).
ZWGK_RETRY_BACKOFF = 2.0
ZWGK_RETRY_BACKOFF_MAX = 60.0
# After a challenge page the source slows to one request per ZWGK_BLOCKED_DELAY seconds; after
# ZWGK_BLOCKED_LIMIT of them its crawl stops for the run (0: never stop).
ZWGK_BLOCKED_DELAY = 30.0
ZWGK_BLOCKED_LIMIT = 3
# A crawl's own limits (crawler/run.py sets them from the scheduler): the supervising process, whose
# death stops the crawl (None: none), and whether that process already holds the source's lock (else the
# crawl takes it itself, as `scrapy crawl` does).
ZWGK_PARENT_PID = None
ZWGK_LOCK_HELD = False
# Seconds between updates of the running `runs` row's counts (one UPDATE each) and of the progress file
# the scheduler shows (written every second when ZWGK_PROGRESS_FILE is set).
ZWGK_PROGRESS_INTERVAL = 10.0
ZWGK_PROGRESS_FILE = None
# Attachments (crawler/attachments.py): fetch the files an archived page links (on the source's hosts or
# its `attachment_hosts`), each at most ZWGK_ATTACHMENT_MAXSIZE bytes, their text extracted in the
# workers within ZWGK_ATTACHMENT_TIME_LIMIT seconds per file.
ZWGK_ATTACHMENTS = True
ZWGK_ATTACHMENT_MAXSIZE = 50 * 1024 * 1024
ZWGK_ATTACHMENT_TIME_LIMIT = 120.0
