"""One module per API. Each exposes SETTINGS (its config block), validate() and STREAMS."""

from __future__ import annotations

from tap_exportjobs.providers import elasticpath, m3ter, talkdesk, uniware

#: Config block name -> provider module. A provider is on when its block is present.
PROVIDERS = {
    elasticpath.NAME: elasticpath,
    m3ter.NAME: m3ter,
    talkdesk.NAME: talkdesk,
    uniware.NAME: uniware,
}
