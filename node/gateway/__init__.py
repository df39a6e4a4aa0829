"""The HTTP gateway: freesites and files in any browser, and publishing from a form.

:class:`~node.gateway.app.Gateway` is the Starlette application over the
node's client layer; :func:`~node.gateway.server.serve_gateway` runs it with
uvicorn inside the node's event loop; :mod:`node.gateway.filter` keeps what it
serves from reaching outside the gateway. ``specs/gateway.md`` has the routes,
the serving rules and the filter's rules.
"""
