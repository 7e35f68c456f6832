/*
id = "covid_admissions"
title = "COVID-19 admissions"
definition = "Hospital admissions of residents with a primary diagnosis of COVID-19 (ICD-10 U07.1, U07.2), crude rate per 100,000 population."
source = "admissions"
measure = "crude_rate"
multiplier = 100000
polarity = "lower_is_better"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex", "age_band"]
[denominator]
kind = "population"
*/
SELECT lsoa11cd, admission_date AS event_date, age, sex, 1 AS numerator
FROM admissions
WHERE primary_diagnosis LIKE 'U07%'
