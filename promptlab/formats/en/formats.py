"""English date formats as the site writes them: "1 December 2026", as GOV.UK does, not
Django's American default "Dec. 1, 2026". Other names fall back to Django's own English."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
