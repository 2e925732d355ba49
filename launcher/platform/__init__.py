"""Everything that speaks to the platform: the client (``client``), what
its answers hold (``wire``) and the transport under it (``transport``)."""
