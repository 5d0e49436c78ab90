"""Server-rendered pages for planners, coordinators and case managers, on the same services and rules as the API."""


def init_app(app):
    # Importing the view modules registers their routes on the blueprint.
    from transitions.web import admin, auth_views, coordinator, manager, notifications, planner, present  # noqa: F401
    from transitions.web.blueprint import bp

    present.register(app)
    app.register_blueprint(bp)
