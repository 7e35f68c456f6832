/*
id = "cab_employment"
title = "Citizens Advice employment and redundancy advice"
dataset = "cab"
levels = ["place", "locality", "neighbourhood"]
strata = ["local_imd_quintile"]
methods = ["farrington-flexible", "ears-c2", "cusum", "baseline"]
direction = "up"
population_offset = false
provisional_weeks = 2
close_after = 3
*/
SELECT lsoa_code, contact_date AS event_date, 1 AS numerator
FROM cab
WHERE advice_category = 'employment_redundancy'
