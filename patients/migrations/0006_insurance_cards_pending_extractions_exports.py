"""Insurance card documents belong to a policy (front/back only, checked by the database); a
partial index for the sweep that re-sends document text extractions left pending; background
CSV exports of the patient list.

The index is built CONCURRENTLY (outside a transaction) so a large versions table keeps
taking uploads while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('clinic', '0003_readable_history_model_names'),
        ('patients', '0005_patient_surname_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PatientExport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('query', models.TextField(blank=True)),
                ('state', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('rows_done', models.PositiveIntegerField(default=0)),
                ('rows_total', models.PositiveIntegerField(default=0)),
                ('storage_name', models.CharField(blank=True, editable=False, max_length=255)),
                ('size', models.PositiveBigIntegerField(default=0)),
                ('message', models.CharField(blank=True, max_length=300)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='document',
            name='insurance_policy',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='card_documents', to='patients.insurancepolicy'),
        ),
        AddIndexConcurrently(
            model_name='documentversion',
            index=models.Index(condition=models.Q(('extraction_status', 'pending')), fields=['created_at'], name='document_version_pending'),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.CheckConstraint(condition=models.Q(('insurance_policy__isnull', True), ('category__in', ('insurance_card_front', 'insurance_card_back')), _connector='OR'), name='document_policy_only_for_cards'),
        ),
        migrations.AddField(
            model_name='patientexport',
            name='organization',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='clinic.organization'),
        ),
        migrations.AddField(
            model_name='patientexport',
            name='requested_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='patientexport',
            index=models.Index(fields=['requested_by', '-created_at'], name='patient_export_by'),
        ),
        migrations.AddConstraint(
            model_name='patientexport',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['queued', 'running', 'done', 'failed'])), name='patient_export_state_known'),
        ),
        migrations.AddConstraint(
            model_name='patientexport',
            constraint=models.CheckConstraint(condition=models.Q(('rows_done__lte', models.F('rows_total')), ('rows_total', 0), _connector='OR'), name='patient_export_progress_bounded'),
        ),
    ]
