/*
id = "gp_appointments_dna"
title = "GP practice appointments not attended (DNA, NHS England)"
definition = "Appointments in general practice the patient did not attend (DNA), as a percentage of appointments whose status is recorded (attended or DNA; status unknown excluded), every mode and professional. From NHS England's Appointments in General Practice, counted for the sub-ICB location where the practices are (level sub_icb: the data has no LSOA, so no ward values and no deprivation breakdown). Wilson score 95% and 99.8% intervals."
source = "gp_appointments"
measure = "proportion"
multiplier = 100
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
[denominator]
kind = "dataset"
*/
SELECT sub_icb_code AS area_code, appointment_month AS event_date,
       CASE WHEN appt_status = 'DNA' THEN appointments ELSE 0 END AS numerator,
       appointments AS denominator
FROM gp_appointments
WHERE appt_status IN ('Attended', 'DNA')
