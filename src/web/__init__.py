"""`sugo web`: the HTTP API and live dashboard, a separate process that is a
client of the daemon (a crash or a slow browser never touches the daemon).

Import-light at the package level: `sugo.web.auth` is used by the CLI's token
commands and by settings validation, which must not pay for FastAPI.
"""
