from django.db import migrations


class Migration(migrations.Migration):
    """The connection's model list was shown in the admin but read by nothing."""

    dependencies = [("providers", "0001_initial")]

    operations = [migrations.RemoveField(model_name="providerconnection", name="model_list")]
