"""Tables of the directory: IOP programs and their tracks (schedules and seats)."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.types import ID, JSONType, UTCDateTime, new_id

SERVICES = ("mental_health", "substance_use", "co_occurring")
# Where a program came from: the national directory import, or a provider's own coordinators.
SOURCES = ("samhsa", "provider")
ORIGINS = ("inpatient_psych", "residential")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Program(db.Model):
    __tablename__ = "programs"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    zip: Mapped[str] = mapped_column(String(5))
    state: Mapped[str] = mapped_column(String(2), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    services: Mapped[list] = mapped_column(JSONType)
    min_age: Mapped[int] = mapped_column(Integer)
    max_age: Mapped[int] = mapped_column(Integer)
    gender: Mapped[str] = mapped_column(String(10))
    languages: Mapped[list] = mapped_column(JSONType)
    interpreter_services: Mapped[bool] = mapped_column(Boolean, default=False)
    payers: Mapped[list] = mapped_column(JSONType)
    self_pay: Mapped[bool] = mapped_column(Boolean, default=False)
    mat: Mapped[bool] = mapped_column(Boolean, default=False)
    accepts_from: Mapped[list] = mapped_column(JSONType)
    telehealth_states: Mapped[list] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(20), default="provider", server_default="provider")
    # Imported and not yet taken over by a provider that publishes a track: listed, never offered.
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The directory import's bookkeeping (docs/directory.md): the facility's key (its normalized name lines, street
    # and ZIP), the fields each file's row gave, and the value the import last wrote per field, so a re-import
    # changes only a field nobody edited since.
    import_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    import_rows: Mapped[dict | None] = mapped_column(JSONType)
    import_applied: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tracks: Mapped[list["Track"]] = relationship(back_populates="program", order_by="Track.created_at")

    __table_args__ = (
        Index("ix_programs_lat_lon", "latitude", "longitude"),
        # Telehealth reach is "licensed in the patient's state": JSONB containment, answered by this index.
        # SQLite has no such index type; its directories are small enough to scan.
        Index(
            "ix_programs_telehealth_states",
            "telehealth_states",
            postgresql_using="gin",
            postgresql_ops={"telehealth_states": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
        CheckConstraint("min_age <= max_age", name="age_range"),
    )


class Track(db.Model):
    __tablename__ = "tracks"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(ID, ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Indexed so matching counts the tracks of each modality from the index alone.
    modality: Mapped[str] = mapped_column(String(20), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    sessions: Mapped[list] = mapped_column(JSONType)
    hours_per_week: Mapped[float] = mapped_column(Float)
    intake_days: Mapped[list] = mapped_column(JSONType)
    capacity: Mapped[int] = mapped_column(Integer)
    # Seat counters live on the track row so one row lock (or one conditional
    # UPDATE) decides every seat; the check constraint is the backstop.
    occupied: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When a coordinator last said the seats are right: any capacity edit, attendance or accept, or the button.
    seats_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    program: Mapped[Program] = relationship(back_populates="tracks")

    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("occupied >= 0 AND held >= 0", name="counters_non_negative"),
        CheckConstraint("occupied + held <= capacity", name="seats_within_capacity"),
    )

    @property
    def open_seats(self):
        return self.capacity - self.occupied - self.held
