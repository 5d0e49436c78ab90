"""Admin pages: users and their web passwords (the API keeps bearer tokens; passwords are for these pages)."""
from flask import g, redirect, request, url_for
from sqlalchemy import select

from transitions.core import audit
from transitions.core.db import db
from transitions.core.errors import ValidationFailed
from transitions.identity import passwords
from transitions.identity.models import Organization, User
from transitions.web.blueprint import bp, notice, render, roles


@bp.get("/admin/users")
@roles("admin")
def users():
    rows = db.session.execute(
        select(User, Organization.name).join(Organization, Organization.id == User.organization_id)
        .order_by(Organization.name, User.email).limit(1000)).all()
    return render("admin_users.html", rows=rows)


@bp.post("/admin/users/<user_id>/password")
@roles("admin")
def set_user_password(user_id):
    user = db.session.get(User, user_id[:36])
    if user is None:
        return render("error.html", status=404, title="Not found", detail="No user with this id.",
                      back=url_for("web.users"))
    try:
        passwords.set_password(user, request.form.get("password") or "")
    except ValidationFailed as error:
        return render("error.html", status=422, title="The password was not set",
                      detail=" ".join(error.errors["password"]), back=url_for("web.users"))
    audit.record("user.set_password", "user", user.id, user=g.user)
    notice("Password set for %s; their open sessions were signed out." % user.email, "success")
    return redirect(url_for("web.users"))
