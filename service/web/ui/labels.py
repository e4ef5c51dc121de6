"""How the pages name the members of a closed list (classification, roles, …): one table per
list, msgids in English, translated by the catalogs. The lists themselves are defined once, in
service.domain and the models; these are only their names on a page."""

from __future__ import annotations

import enum
from typing import Any

from babel.support import LazyProxy

from service.db.models import Role
from service.domain.delinquency import RiskClass
from service.web.ui.i18n import lazy_gettext as _l

LABELS: dict[type[enum.Enum], dict[Any, LazyProxy]] = {
    # 五级分类: the UI shows 正常/关注/次级/可疑/损失 in Chinese (DESIGN §5).
    RiskClass: {
        RiskClass.normal: _l("Normal"),
        RiskClass.special_mention: _l("Special mention"),
        RiskClass.substandard: _l("Substandard"),
        RiskClass.doubtful: _l("Doubtful"),
        RiskClass.loss: _l("Loss"),
    },
    Role: {
        Role.collector: _l("Collector"),
        Role.supervisor: _l("Supervisor"),
        Role.admin: _l("Administrator"),
    },
}
# Lists read back from SQL as plain strings: their names by the list and the stored value.
BY_NAME: dict[str, type[enum.Enum]] = {"classification": RiskClass, "role": Role}


def label(value: Any, kind: str | None = None) -> str:
    """The page's name for ``value`` (an enum member, or a stored string with its list's
    ``kind``); the value itself when the list has no names (a new member is seen, not hidden)."""
    if value is None:
        return "—"
    if kind is not None:
        enum_type = BY_NAME[kind]
        try:
            value = enum_type[value] if isinstance(value, str) else enum_type(value)
        except (KeyError, ValueError):
            return str(value)
    names = LABELS.get(type(value))
    if names is None or value not in names:
        return str(getattr(value, "value", value))
    return str(names[value])
