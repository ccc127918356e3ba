"""gunicorn settings for a slot, shared by the local lab and the Docker topology (one source).

Values come from lab/topology.toml's [app] table via environment variables the lab sets, so a
container and a local slot run the app the same way.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# Import the app in the master before forking: a broken release (syntax or import error) fails
# at once with one traceback instead of workers crash-looping; forks also start faster.
preload_app = True
# Longer than nginx's upstream keepalive_timeout (60s), so nginx never reuses a connection the
# app just closed (that race turns into 502s on POSTs, which nginx may not retry).
keepalive = 75
# SO_REUSEPORT: during a deploy the new server binds the slot's port while the old one, already
# out of nginx's rotation, is still shutting down (lab/slots.py Slots.replace_idle).
reuse_port = True
# A deploy stops a slot with SIGTERM: in-flight requests get this long to finish.
graceful_timeout = 10
timeout = 60
accesslog = None
errorlog = "-"
loglevel = "warning"
pidfile = os.environ.get("GUNICORN_PIDFILE") or None
proc_name = "bigfoot-" + os.environ.get("APP_SLOT", "slot")
# gunicorn ≥ 24 opens a control socket at one per-user path; two slots (or two labs) would
# fight over it, and the lab doesn't use it.
control_socket_disable = True
