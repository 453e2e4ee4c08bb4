"""A booking driven through a client generated from the server's own /openapi.json.

.ci/conformance.sh generates the client (openapi-python-client, pinned there) into a temporary
directory, puts it on PYTHONPATH, and runs this against the server it started. Every call goes
through the generated code (its models, its request building, its response parsing); nothing
here speaks raw HTTP. Each step must answer the status the document promises, parsed into the
model the document names, or the script exits non-zero and CI fails.

    HEALTHAPI_BASE_URL=http://127.0.0.1:8080 HEALTHAPI_ADMIN_EMAIL=admin@healthapi.local \
    HEALTHAPI_ADMIN_PASSWORD=... PYTHONPATH=<generated> python .ci/client_booking.py
"""

import datetime
import os
import sys
import uuid

from healthapi_client import AuthenticatedClient, Client
from healthapi_client.api.appointments import create_appointment, get_appointment
from healthapi_client.api.auth import login, me, register
from healthapi_client.api.doctors import create_doctor
from healthapi_client.api.notifications import list_notifications
from healthapi_client.models import (
    Appointment,
    AppointmentStatus,
    Doctor,
    ListResponseNotification,
    Login,
    LoginResponse,
    NewAppointment,
    NewDoctor,
    Register,
    Registered,
    Sex,
    User,
)

BASE = os.environ["HEALTHAPI_BASE_URL"]
TIMEOUT = 30.0


def step(name, response, status, model):
    """The parsed answer of a call that must answer `status` with a `model`."""
    if response.status_code != status or not isinstance(response.parsed, model):
        print(f"client: {name}: expected {status} {model.__name__}, got {response.status_code}")
        print(response.content.decode(errors="replace")[:2000])
        sys.exit(1)
    print(f"client: {name}: {response.status_code}")
    return response.parsed


def signed_in(email, password):
    """An authenticated client of the account, by signing in through the generated client."""
    anonymous = Client(base_url=BASE, timeout=TIMEOUT, raise_on_unexpected_status=True)
    answer = step(
        f"sign in as {email}",
        login.sync_detailed(client=anonymous, body=Login(email=email, password=password)),
        200,
        LoginResponse,
    )
    assert answer.token_type == "Bearer", answer.token_type
    return AuthenticatedClient(
        base_url=BASE, token=answer.access_token, timeout=TIMEOUT, raise_on_unexpected_status=True
    )


def main():
    run = uuid.uuid4().hex[:10]
    admin = signed_in(os.environ["HEALTHAPI_ADMIN_EMAIL"], os.environ["HEALTHAPI_ADMIN_PASSWORD"])
    assert "admin" in step("who am I", me.sync_detailed(client=admin), 200, User).roles

    doctor_email, doctor_password = f"dr.okafor.{run}@clinic.example", f"doctor-{run}-pw"
    doctor = step(
        "create a doctor with a login",
        create_doctor.sync_detailed(
            client=admin,
            body=NewDoctor(
                given_name="Chiamaka",
                family_name="Okafor",
                specialty="Cardiology",
                license_number=f"MD-{run}",
                email=doctor_email,
                password=doctor_password,
            ),
        ),
        201,
        Doctor,
    )
    assert doctor.user_id is not None, "the doctor has no login"

    patient_email, patient_password = f"jane.doe.{run}@example.com", f"patient-{run}-pw"
    anonymous = Client(base_url=BASE, timeout=TIMEOUT, raise_on_unexpected_status=True)
    registered = step(
        "register a patient",
        register.sync_detailed(
            client=anonymous,
            body=Register(
                email=patient_email,
                password=patient_password,
                given_name="Jane",
                family_name="Doe",
                birth_date=datetime.date(1984, 7, 12),
                sex=Sex.FEMALE,
                phone="+1 555 0100",
            ),
        ),
        201,
        Registered,
    )
    assert registered.user.patient_id == str(registered.patient.id), registered.user

    patient = signed_in(patient_email, patient_password)
    # Tomorrow at 09:30 UTC, for 30 minutes: in the future, as a booking must be.
    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    start = datetime.datetime.combine(tomorrow, datetime.time(9, 30), datetime.timezone.utc)
    end = start + datetime.timedelta(minutes=30)
    booked = step(
        "book an appointment with the doctor",
        create_appointment.sync_detailed(
            client=patient,
            body=NewAppointment(
                patient_id=registered.patient.id,
                doctor_id=doctor.id,
                start_time=start,
                end_time=end,
                reason="Follow-up after blood pressure medication change",
            ),
        ),
        201,
        Appointment,
    )
    assert booked.status == AppointmentStatus.BOOKED, booked.status

    read = step(
        "read the appointment back",
        get_appointment.sync_detailed(booked.id, client=patient),
        200,
        Appointment,
    )
    assert read.id == booked.id and read.status == AppointmentStatus.BOOKED, read
    assert (read.patient_id, read.doctor_id) == (registered.patient.id, doctor.id), read
    assert (read.start_time, read.end_time) == (start, end), (read.start_time, read.end_time)

    doctor_client = signed_in(doctor_email, doctor_password)
    inbox = step(
        "the doctor's notifications",
        list_notifications.sync_detailed(client=doctor_client, unread=True),
        200,
        ListResponseNotification,
    )
    told = [
        n
        for n in inbox.items
        if n.kind == "appointment_booked" and n.resource_id == str(booked.id)
    ]
    if not told:
        print(f"client: the doctor was not notified of {booked.id}: {inbox.to_dict()}")
        sys.exit(1)
    print(f"client: the doctor was notified: {told[0].title}")


if __name__ == "__main__":
    main()
