"""Admin pages: users and their web passwords (the API keeps bearer tokens; passwords are for these pages)."""

from flask import g, redirect, request, url_for

from transitions import policy
from transitions.core.errors import NotFound, ValidationFailed
from transitions.identity import commands, queries
from transitions.web.blueprint import bp, notice, permits, render


@bp.get("/admin/users")
@permits(policy.ADMINISTER)
def users():
    return render("admin_users.html", rows=queries.users_with_organizations())


@bp.post("/admin/users/<user_id>/password")
@permits(policy.ADMINISTER)
def set_user_password(user_id):
    try:
        user = commands.set_password(g.user, user_id, request.form.get("password") or "")
    except NotFound as error:
        return render("error.html", status=404, title="Not found", detail=error.detail, back=url_for("web.users"))
    except ValidationFailed as error:
        return render(
            "error.html",
            status=422,
            title="The password was not set",
            detail=" ".join(error.errors["password"]),
            back=url_for("web.users"),
        )
    notice("Password set for %s; their open sessions were signed out." % user.email, "success")
    return redirect(url_for("web.users"))
