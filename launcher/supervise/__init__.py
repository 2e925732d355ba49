"""supervise's long-lived side: the typed handover (``handover``), the
resident (``loop``: the state machine; ``resident``: the program), its
children (``children``), refresh timing (``refresh``) and the pull each
refresh helper makes (``pull``). Imported by the lean resident: this file
imports nothing."""
