/*
id = "ed_attendances"
title = "Emergency department attendances"
dataset = "ccg_activity"
levels = ["place", "locality", "neighbourhood"]
strata = ["local_imd_quintile"]
methods = ["farrington-flexible", "ears-c2", "cusum", "baseline"]
direction = "both"
population_offset = false
provisional_weeks = 2
close_after = 3
*/
SELECT lsoa_code, activity_date AS event_date, count AS numerator
FROM ccg_activity
WHERE activity_type = 'ed'
