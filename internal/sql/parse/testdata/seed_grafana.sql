SELECT time, measure_value::double as ${measure}
FROM $__database.$__table
WHERE measure_name = '${measure}
AND DeviceID = '${device_id}
AND $__timeFilter order by time DESC
