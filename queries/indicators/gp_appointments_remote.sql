/*
id = "gp_appointments_remote"
title = "GP practice appointments given remotely (NHS England)"
definition = "Appointments in general practice given by telephone or video/online, as a percentage of appointments whose mode is recorded (face-to-face, home visit, telephone, video/online; mode unknown excluded), whatever the status. From NHS England's Appointments in General Practice, counted for the sub-ICB location where the practices are (level sub_icb: the data has no LSOA, so no ward values and no deprivation breakdown). Wilson score 95% and 99.8% intervals."
source = "gp_appointments"
measure = "proportion"
multiplier = 100
polarity = "no_judgement"
grain = "month"
disclosure_threshold = 8
[denominator]
kind = "dataset"
*/
SELECT sub_icb_code AS area_code, appointment_month AS event_date,
       CASE WHEN appt_mode IN ('Telephone', 'Video/Online') THEN appointments ELSE 0 END AS numerator,
       appointments AS denominator
FROM gp_appointments
WHERE appt_mode <> 'Unknown'
