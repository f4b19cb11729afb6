"""ModelPrice and ProviderConnection now belong to the ``providers`` app.

State only: ``providers.0001`` took the models (and their tables, under the same
names) into its state; here they leave this app's state. The database is untouched.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_provider_connection_egress_rules"),
        ("providers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ModelPrice"),
                migrations.DeleteModel(name="ProviderConnection"),
            ],
            database_operations=[],
        ),
    ]
