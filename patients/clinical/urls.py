"""Portal URLs of a patient's insurance and medical history (included by ``patients.urls``,
so the names live in the ``patients`` namespace)."""

from django.urls import path

from patients.clinical import views

urlpatterns = [
    path("<uuid:public_id>/insurance", views.insurance, name="insurance"),
    path("<uuid:public_id>/insurance/add", views.insurance_add, name="insurance_add"),
    path("<uuid:public_id>/insurance/payers", views.payer_add, name="payer_add"),
    path(
        "<uuid:public_id>/insurance/<uuid:policy_id>/edit",
        views.insurance_edit,
        name="insurance_edit",
    ),
    path(
        "<uuid:public_id>/insurance/<uuid:policy_id>/verify",
        views.insurance_verify,
        name="insurance_verify",
    ),
    path(
        "<uuid:public_id>/insurance/<uuid:policy_id>/cards",
        views.insurance_cards,
        name="insurance_cards",
    ),
    path(
        "<uuid:public_id>/insurance/<uuid:policy_id>/deactivate",
        views.insurance_deactivate,
        name="insurance_deactivate",
    ),
    path("<uuid:public_id>/medical-history", views.medical_history, name="medical_history"),
    path(
        "<uuid:public_id>/medical-history/diagnoses",
        views.diagnosis_add,
        name="diagnosis_add",
    ),
    path(
        "<uuid:public_id>/medical-history/diagnoses/<uuid:diagnosis_id>/error",
        views.diagnosis_error,
        name="diagnosis_error",
    ),
    path("<uuid:public_id>/medical-history/studies", views.study_add, name="study_add"),
    path(
        "<uuid:public_id>/medical-history/allergies-medications",
        views.medical_history_notes,
        name="medical_history_notes",
    ),
]
